/* time.c: clocks and RFC 3339 timestamps. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sess.h"

int64_t
sess_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t
sess_time_fmt(int64_t us, char *out)
{
	/* Formatting the date is the costly part; readers call this per event. */
	static __thread time_t last = -1;
	static __thread char day[24];
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	if (s != last) {
		gmtime_r(&s, &tm);
		strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
		last = s;
	}
	return (size_t)snprintf(out, 32, "%s.%06dZ", day,
	    (int)(us % 1000000));
}

int
sess_time_parse(const char *s, int64_t *us)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, scale = 1000000, off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return SESS_EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return SESS_EINVAL;
		while (*p >= '0' && *p <= '9') {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int h, m, i;

		/* Exactly [+-]HH:MM. */
		for (i = 1; i <= 5; i++)
			if (i == 3 ? p[i] != ':' : (p[i] < '0' || p[i] > '9'))
				return SESS_EINVAL;
		h = (p[1] - '0') * 10 + (p[2] - '0');
		m = (p[4] - '0') * 10 + (p[5] - '0');
		off = (h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return SESS_EINVAL;
	}
	if (*p != '\0')
		return SESS_EINVAL;
	t = timegm(&tm);
	*us = ((int64_t)t - off) * 1000000 + frac;
	return 0;
}

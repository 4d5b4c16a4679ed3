# sess: durable sessions beside durable execution.
#
#   make            build everything into $(BUILD)
#   make run        install what is missing, build, start the demo
#   make check      install what is missing, build, run every test suite
#   make SANITIZE=address,undefined check
#   make install PREFIX=/usr/local DESTDIR=
#   make fuzz       libFuzzer builds of the fuzz targets (clang)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions

SANITIZE ?=
BUILD ?= build$(if $(SANITIZE),-san)
CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter
PKGS = sqlite3 jansson libcurl libcrypto
ifneq ($(SANITIZE),)
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) $(SANFLAGS) -Ilib \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

PROGS = sess-pub sess-sub sess-replay sess-presence sess-notify sess-token sessd
LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNITS = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz-*.c)
FUZZERS = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH = $(BUILD)/bench/floor
MAN = $(wildcard man/*.[0-9])

# Debian packages the build, the tests and the demo need.
DEB_PKGS = gcc make pkg-config libsqlite3-dev libjansson-dev \
	libwebsockets-dev libcurl4-openssl-dev libssl-dev sqlite3 bats mandoc strace curl \
	python3 zsh nodejs openssl jq chromium

all: $(PROGS:%=$(BUILD)/bin/%) $(UNITS) $(FUZZERS) $(BENCH)

deps:
	@missing=; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h) | $(BUILD)/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libsess.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(BUILD)/bin/%: cmd/%.c cmd/common/tool.h $(BUILD)/cmd/tool.o $(BUILD)/libsess.a | $(BUILD)/bin
	$(CC) $(ALL_CFLAGS) -Icmd/common $(ALL_LDFLAGS) -o $@ $< $(BUILD)/cmd/tool.o \
	  $(BUILD)/libsess.a $(LIBS)

# sessd is its main in cmd/sessd.c and one file per part in cmd/sessd/; it
# links libwebsockets and pthreads.
# The demo page and sess.js (cmd/sessd/www) are compiled in as byte arrays.
SESSD_SRC = cmd/sessd.c $(wildcard cmd/sessd/*.c)
WWW_FILES = $(wildcard cmd/sessd/www/*.html cmd/sessd/www/*.css \
	cmd/sessd/www/*.js cmd/sessd/www/*.d.ts)
$(BUILD)/bin/sessd: $(SESSD_SRC) $(BUILD)/cmd/www.c cmd/sessd/sessd.h cmd/common/tool.h \
  $(BUILD)/cmd/tool.o $(BUILD)/libsess.a | $(BUILD)/bin
	$(CC) $(ALL_CFLAGS) -Icmd/common -Icmd/sessd $(shell pkg-config --cflags libwebsockets) \
	  $(ALL_LDFLAGS) -o $@ $(SESSD_SRC) $(BUILD)/cmd/www.c $(BUILD)/cmd/tool.o \
	  $(BUILD)/libsess.a $(LIBS) $(shell pkg-config --libs libwebsockets \
	  libcrypto) -lpthread

$(BUILD)/cmd/www.c: $(WWW_FILES) cmd/sessd/gen-www.sh | $(BUILD)/cmd
	sh cmd/sessd/gen-www.sh $(WWW_FILES) >$@.tmp && mv $@.tmp $@

$(BUILD)/cmd/tool.o: cmd/common/tool.c cmd/common/tool.h lib/sess.h | $(BUILD)/cmd
	$(CC) $(ALL_CFLAGS) -Icmd/common -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libsess.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< \
	  $(BUILD)/libsess.a $(LIBS)

# Fuzz targets always build, with a driver that replays files; `make fuzz`
# links them with libFuzzer instead.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c $(BUILD)/libsess.a | $(BUILD)/fuzz
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< tests/fuzz/driver.c \
	  $(BUILD)/libsess.a $(LIBS)

$(BUILD)/bench/floor: bench/floor.c | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 \
	  SANITIZE=fuzzer-no-link,address,undefined build-fuzz/libsess.a
	mkdir -p build-fuzz/libfuzzer
	for f in $(FUZZ_SRC); do \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Ilib \
	    -fsanitize=fuzzer,address,undefined -o \
	    build-fuzz/libfuzzer/$$(basename $$f .c) $$f build-fuzz/libsess.a \
	    $(LIBS) || exit 1; \
	done

$(BUILD)/lib $(BUILD)/bin $(BUILD)/cmd $(BUILD)/tests $(BUILD)/fuzz $(BUILD)/bench:
	mkdir -p $@

check: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/run

# sessd in the foreground on ./sess.db (SESS_DB), at http://127.0.0.1:4437
# (SESSD_LISTEN), with the commands to try printed first.
SESSD_LISTEN ?= 127.0.0.1:4437
run: deps
	$(MAKE) all
	@u=http://$(SESSD_LISTEN); b=$(CURDIR)/$(BUILD)/bin; \
	echo "sessd: serving $${SESS_DB:-$(CURDIR)/sess.db} at $$u"; \
	echo "demo:    open $$u/#demo/run-1 in a browser (a phone too)"; \
	echo "publish: $$b/sess-pub -u $$u demo/run-1 '{\"hello\":\"world\"}'"; \
	echo "tail:    $$b/sess-sub -u $$u -f demo/run-1"; \
	echo "curl:    curl -N '$$u/v1/stream/demo/run-1?offset=-1&live=sse'"; \
	echo "(the embedded tools without a daemon: BUILD=$(BUILD) tests/demo)"; \
	exec $(BUILD)/bin/sessd -v -d "$${SESS_DB:-$(CURDIR)/sess.db}" \
	    -l $(SESSD_LISTEN)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	  $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(PROGS:%=$(BUILD)/bin/%) $(DESTDIR)$(BINDIR)
	for m in $(MAN); do \
	  install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}; done
	for p in $(PROGS); do \
	  test -f completions/bash/$$p || continue; \
	  install -m 644 completions/bash/$$p $(DESTDIR)$(BASHCOMPDIR)/$$p; \
	  install -m 644 completions/zsh/_$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p; \
	done

clean:
	rm -rf build build-san build-fuzz

.PHONY: all deps check run install clean fuzz

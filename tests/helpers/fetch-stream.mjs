// fetch-stream.mjs: a POST whose body is a ReadableStream, through
// Node's fetch (undici), which sends it chunked as the parts come.
// usage: node fetch-stream.mjs URL CONTENT-TYPE PART...
// Prints "STATUS BODY".
const [url, type, ...parts] = process.argv.slice(2);
const enc = new TextEncoder();
let i = 0;
const body = new ReadableStream({
	pull(ctrl) {
		if (i < parts.length)
			ctrl.enqueue(enc.encode(parts[i++]));
		else
			ctrl.close();
	},
});
const r = await fetch(url, {
	method: 'POST',
	headers: { 'Content-Type': type },
	body,
	duplex: 'half',
	signal: AbortSignal.timeout(10000),
});
console.log(r.status, await r.text());

"""Getting data in: Treblle payloads from the HTTP collector and from files, normalised, masked and
enriched into request rows.

errors      PayloadError (a payload we cannot accept), Rejected and DatabaseUnavailable (collector replies)
transport   HTTP body bytes → JSON: gzip/deflate bounded against bombs
fields      readers of single payload fields (status, load time, size, headers, IP, bounded bodies)
timestamps  when a request happened: the SDK timestamp and the collector's clock rule
customers   customer ID, display name and attributes from headers and metadata
routes      the endpoint template of a request
normalize   identify() and normalize(): one payload → NormalizedRequest
enrich      derived columns (device, country, threats); pipeline: normalise + enrich for storage
files       importing payloads from files
bodies      the collector's CPU work on one body (inline or in a worker process)
server      the raw ASGI endpoint, the slow-client read deadline and uvicorn options
collector   the Collector: credentials, batched writes, rejections; create_app and main
"""

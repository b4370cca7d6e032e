"""API documentation: OpenAPI specs uploaded by an Admin (validated), or inferred from stored traffic.

spec        DocSpec (the spec shown for an API), SpecError (an upload refused), shared names
upload      parse_spec, upload_spec, remove_spec: validating and storing an uploaded spec
access      docs_apis: which APIs' docs a scope may read
cache       spec_for, clear_cache: the spec to show, inferred specs cached by (API, workspace | customer)
infer       infer_spec and the inference behind it: observations of traffic → an OpenAPI document
schema      genson with masked values, the kind of a query or path value
exchange    bodies, content types and auth schemes of one stored exchange
paths       endpoint templates as OpenAPI paths; summaries, operationIds and tags
examples    example values: observed, or generated from a schema
operations  a spec read back as one row per operation, for display
download    the spec as JSON or YAML
display     the docs page's tables and texts
"""

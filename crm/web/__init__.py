"""The request's own machinery: edge checks, request log, forms, formats, plain pages."""

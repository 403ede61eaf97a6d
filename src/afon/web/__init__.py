"""The browser side of afon: `afon serve`'s live viewfinder, phone remote and HTTP API.

`serve.LiveServer` builds the camera and body, `runner.BodyRunner` runs the body's loop in one
thread, `server` is the Starlette app (page, WebSocket, `/api/`), `security` the pairing-token,
Origin and Host rules, `protocol` the validated messages and `keys` the key maps.
"""

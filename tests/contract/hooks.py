# Schemathesis hooks: bodies for the text media types of POST /api/import and
# POST /api/events, which schemathesis cannot serialise by itself. A generated
# string goes as it is; anything else as its JSON text.
import json

import schemathesis


def _text(value):
    if isinstance(value, (bytes, str)):
        return value
    return json.dumps(value)


class TextSerializer:
    def as_requests(self, context, value):
        return {"data": _text(value)}

    def as_werkzeug(self, context, value):
        return {"data": _text(value)}


for media_type in ("text/csv", "application/x-ndjson"):
    schemathesis.serializer(media_type)(TextSerializer)

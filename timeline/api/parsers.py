"""JSON bodies for the API: DRF's parser, with nesting too deep to read refused as a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser turns ValueError into a 400 but lets RecursionError through as a 500:
    a body of a thousand nested arrays is hostile input, not a server fault."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply to read.") from None

import logging
import uuid

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

logger = logging.getLogger("predmarket.api")


def _unexpected(error: GraphQLError) -> bool:
    # Syntax and validation errors carry no original error: they are the client's to read.
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Unexpected errors reach the client as a request id; the trace goes to the log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected)

    def _process_result(self, result: object) -> None:
        # Most results carry no errors: skip MaskErrors' isinstance check against a runtime
        # Protocol (about 1% of the API's time per placeOrder).
        if getattr(result, "errors", None):
            super()._process_result(result)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = uuid.uuid4().hex[:16]
        logger.error(
            "unexpected error, request id %s, path %s",
            request_id,
            error.path,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"Unexpected error (request id {request_id}).",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )

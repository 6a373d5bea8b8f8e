"""Chapter 14: the FastAPI app of a model server -- endpoints, their pydantic models, the OpenAPI page.

Why FastAPI (on Starlette) rather than plain Starlette: the request and response
bodies are declared once as pydantic models, and FastAPI turns them into
``/openapi.json`` and the interactive ``/docs`` page, which is how people who deploy
a Python model describe their API. The models are built per server, so the schema
states this model's real limits (feature count, rows per request, ``max_tokens``).

The bodies themselves are checked by :mod:`nnlib.serve.validation` (after the
:class:`~nnlib.serve.gate.Gate` has parsed them strictly): its messages name the
field in the words chapter 14 uses, and the rows go to one float32 array in a single
NumPy call. ``tests/nnlib/serve/test_serve.py`` checks that the pydantic models accept and refuse
the same bodies, so the documentation cannot drift from the behaviour. Replies are
encoded once with ``json.dumps`` and returned as ready responses (FastAPI documents
the ``response_model`` without re-validating it on every request).
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Annotated, Literal, Optional

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from .gate import BODY_KEY
from .metrics import CONTENT_TYPE
from .validation import SEED_MAX, TEMPERATURE_MAX, ApiError

__all__ = ["build_app", "ErrorReply", "HealthReply", "PredictReply", "GenerateReply", "ModelsReply"]


# ---------------------------------------------------------------------- response models
class ErrorReply(BaseModel):
    """Chapter 14: every 4xx/5xx answer: what is wrong, naming the field."""
    error: str


class HealthReply(BaseModel):
    """Chapter 14: the answer to GET /health."""
    status: Literal["ok"]
    model: str


class BatchingInfo(BaseModel):
    """Chapter 14: the micro-batching settings of a predictor."""
    enabled: bool
    max_batch_size: int
    max_wait_ms: float


class ModelCard(BaseModel):
    """Chapter 14: one served model: its kind, size, shapes and limits."""
    id: str
    version: str
    parameters: int
    quantized: bool
    kind: Literal["predictor", "language-model"]
    endpoint: Literal["/v1/predict", "/v1/generate"]
    input_shape: Optional[list[Optional[int]]] = None
    output_shape: Optional[list[Optional[int]]] = None
    max_rows: Optional[int] = None
    batching: Optional[BatchingInfo] = None
    vocab_size: Optional[int] = None
    context_length: Optional[int] = None
    max_tokens: Optional[int] = None
    tokenizer: Optional[str] = None


class ModelsReply(BaseModel):
    """Chapter 14: the answer to GET /v1/models."""
    object: Literal["list"]
    data: list[ModelCard]


class PredictReply(BaseModel):
    """Chapter 14: the answer to POST /v1/predict."""
    model: str
    outputs: list[list[float]] = Field(description="one row of model outputs per input row")
    predictions: Optional[list[int]] = Field(None, description="class ids (softmax or one-unit sigmoid models only)")


class GenerateReply(BaseModel):
    """Chapter 14: the answer to POST /v1/generate."""
    model: str
    prompt: str
    completion: str
    text: str = Field(description="prompt + completion")
    tokens: int = Field(description="how many tokens were generated")


# ---------------------------------------------------------------------- request models (per server)
def predict_request_model(n_features: int, max_rows: int) -> type:
    """Chapter 14: the pydantic model of a ``/v1/predict`` body for a model with ``n_features`` inputs."""
    row = Annotated[list[float], Field(min_length=n_features, max_length=n_features)]
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid", strict=True),
                        inputs=(Annotated[list[row], Field(min_length=1, max_length=max_rows,
                                                           description=f"1..{max_rows} rows of {n_features} "
                                                                       "finite numbers")], ...))


def generate_request_model(vocab_size: int, max_tokens: int, max_prompt_tokens: int) -> type:
    """Chapter 14: the pydantic model of a ``/v1/generate`` body."""
    return create_model(
        "GenerateRequest", __config__=ConfigDict(extra="forbid", strict=True),
        prompt=(str, Field(..., min_length=1, description=f"the text to continue (at most {max_prompt_tokens} "
                                                           "tokens)")),
        max_tokens=(int, Field(min(64, max_tokens), ge=1, le=max_tokens, description="tokens to generate")),
        temperature=(float, Field(1.0, ge=0.0, le=TEMPERATURE_MAX, description="0 = greedy")),
        top_k=(Optional[int], Field(None, ge=1, le=vocab_size)),
        top_p=(Optional[float], Field(None, gt=0.0, le=1.0)),
        seed=(Optional[int], Field(None, ge=0, le=SEED_MAX, description="the same seed gives the same text")))


def _body_doc(model: type) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ERRORS = {code: {"model": ErrorReply} for code in (400, 404, 405, 408, 411, 413, 415, 431, 500, 503)}


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload, allow_nan=False).encode("utf-8"), status_code=status,
                    media_type="application/json", headers=headers)


def build_app(server) -> FastAPI:
    """Chapter 14: the FastAPI app for a :class:`~nnlib.serve.ModelServer` (its endpoints call the server)."""

    @asynccontextmanager
    async def lifespan(app):
        await server.startup()
        try:
            yield
        finally:
            await server.shutdown()

    app = FastAPI(title=f"nnlib.serve: {server.name}", version=server.version, lifespan=lifespan,
                  description="A model served by nnlib (chapter 14). Every error is `{\"error\": \"...\"}`.",
                  docs_url="/docs", redoc_url=None, swagger_ui_oauth2_redirect_url=None)

    async def answer(call):
        try:
            return _json(await call())
        except ApiError as err:
            return _json({"error": err.message}, err.status, err.headers or None)

    @app.get("/health", response_model=HealthReply, summary="Is the server up?")
    async def health():
        return _json({"status": "ok", "model": server.name})

    @app.get("/v1/models", response_model=ModelsReply, summary="The model served and its limits")
    async def models():
        return _json(server.info())

    if server.is_gpt:
        c = server.model.config
        gen_model = generate_request_model(c.vocab_size, server.max_tokens, server.max_prompt_tokens)
        pred_model = predict_request_model(1, server.max_rows)
    else:
        gen_model = generate_request_model(1, server.max_tokens, 1)
        pred_model = predict_request_model(server.n_features, server.max_rows)
    app.state.request_models = {"/v1/predict": pred_model, "/v1/generate": gen_model}

    @app.post("/v1/predict", response_model=PredictReply, responses=_ERRORS, openapi_extra=_body_doc(pred_model),
              summary="Model outputs for rows of features (micro-batched)")
    async def predict(request: Request):
        return await answer(lambda: server.predict(request.scope[BODY_KEY]))

    @app.post("/v1/generate", response_model=GenerateReply, responses=_ERRORS, openapi_extra=_body_doc(gen_model),
              summary="Continue a text prompt (a GPT)")
    async def generate(request: Request):
        return await answer(lambda: server.generate(request.scope[BODY_KEY]))

    @app.get("/metrics", summary="Counters in the Prometheus text format",
             responses={200: {"content": {CONTENT_TYPE: {}}}})
    async def metrics():
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    return app

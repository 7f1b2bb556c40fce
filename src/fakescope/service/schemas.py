"""The shapes of the service's answers, as the OpenAPI schema at ``/openapi.json`` documents them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong and what to do about it, in one sentence")
    status: int = Field(description="the HTTP status, repeated")


class Band(BaseModel):
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    rule: str = Field(description="where the band comes from (verdict sets at an error level, or a fixed band)")


class CardSummary(BaseModel):
    name: str
    family: str | None
    summary: str | None
    not_trained_on: str | None = Field(description="the sources and kinds of image the detector never saw")
    licence: str | None
    paper: str | None
    error_level: float | None = Field(description="error level of the verdict sets; null without them")


class ScanResult(BaseModel):
    """The row ``fakescope scan`` writes for a file, plus what a caller needs to read it. Fields may be
    added (``provenance``, attribution) as the scan row gains them."""

    model_config = ConfigDict(extra="allow")

    path: str = Field(description="the uploaded file's name as the client sent it: a label, never opened")
    p_fake: float = Field(ge=0, le=1, description="calibrated probability that the image is generated or "
                                                  "manipulated")  # fmt: skip
    verdict: Literal["real", "fake", "unsure"]
    verdict_set: list[Literal["real", "fake"]] | None = Field(
        description="the verdicts consistent with the image at the detector's error level (null without verdict sets)")
    reliability: str | None = Field(description="one line on how far to trust the verdict and why")
    detector: str
    family: str | None = Field(None, description="with an attributor: the family of generator most likely behind the "
                                                 "image ('real' for photographs); null without one")  # fmt: skip
    generator: str | None = Field(None, description="with an attributor: the generator within that family, or "
                                                    "'unknown'; null without one")  # fmt: skip
    attribution_p: float | None = Field(None, ge=0, le=1, description="with an attributor: probability of that answer "
                                        "(of the family when the generator is unknown)")  # fmt: skip
    error: None = Field(description="always null here: an image that cannot be read is answered with a 4xx")
    width: int
    height: int
    format: str = Field(description="the format read from the bytes (JPEG, PNG, ...)")
    notes: list[str] = Field(description="every conversion the loader made and what the detector's views did")
    path_bytes: None
    unsure_band: Band
    card: CardSummary
    sha256: str = Field(description="sha256 of the uploaded bytes")
    bytes: int = Field(description="size of the uploaded file")
    flagged_share: float | None = Field(None, description="with a localizer: share of the image flagged")
    localizer: str | None = Field(None, description="with a localizer: its name")
    localizer_p_fake: float | None = Field(None, description="with a localizer: its own image-level score")
    explanation: str | None = Field(None, description="with a localizer: what the map shows, in words")
    heatmap_png: str | None = Field(None, description="with a localizer: the manipulation map as a base64 PNG, "
                                                      "grey, the decoded image's size, 255 = certainly "
                                                      "manipulated")  # fmt: skip
    provenance: dict[str, Any] | None = Field(
        None, description="metadata evidence of origin (C2PA, IPTC, EXIF, generator text chunks), kept apart from "
                          "p_fake; present when fakescope.provenance is installed")  # fmt: skip


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    auth: bool = Field(description="whether every other route needs a bearer token")
    in_flight: int = Field(description="scan requests being scored or waiting")
    capacity: int = Field(description="the most scan requests taken at once; one more is answered 503")


class Detectors(BaseModel):
    detector: dict[str, Any] = Field(description="the loaded detector: its card summary and unsure band")
    localizer: dict[str, Any] | None = Field(description="the loaded localizer, or null")
    shipped: list[str] = Field(description="trained detectors shipped in the package (`fakescope serve -d NAME`)")
    families: list[str] = Field(description="registered detector families")
    localizers: list[str] = Field(description="registered localizer families (`fakescope serve --localizer NAME`)")
    formats: list[str] = Field(description="image formats accepted, recognised from their bytes")
    max_upload_bytes: int

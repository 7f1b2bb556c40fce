"""Provenance evidence: what an image file says about its own origin, apart from its pixels.

A detector judges pixels; this module reads what the file claims: a C2PA
manifest (signed, so tampering shows), the IPTC ``DigitalSourceType`` in its
XMP, EXIF ``Make``/``Model``/``Software``, the text chunks that image
generators write into PNGs (ComfyUI's workflow and prompt, AUTOMATIC1111's
``parameters``, ...) and JPEG comments.

It is separate evidence and stays separate: nothing here changes ``p_fake``.
Metadata is easy to strip and, except for a valid C2PA signature, easy to
forge; its absence says nothing (most photos and most fakes carry none).

:func:`evidence` never raises on a file it can read: a problem with one kind
of metadata is reported in the result (``errors``, ``c2pa.error``) and the
other kinds are still read. C2PA needs the optional ``c2pa-python`` package
(``pip install 'fakescope[provenance]'``); without it ``c2pa.checked`` is
false and says why. Reading never goes to the network (no remote manifests,
no OCSP); a signer is ``trusted`` only against the trust anchors given in
``FAKESCOPE_C2PA_TRUST_ANCHORS`` (a PEM bundle), else a valid manifest is
"valid, signer not on a trust list".
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import threading
from typing import Any

from PIL import Image, PngImagePlugin

#: characters kept of a prompt, a comment or any other free text
MAX_TEXT = 300
#: environment variable naming a PEM bundle of C2PA trust anchors
TRUST_ANCHORS_ENV = "FAKESCOPE_C2PA_TRUST_ANCHORS"
C2PA_INSTALL_HINT = "pip install 'fakescope[provenance]'"

#: What an IPTC digital source type claims about the image (https://cv.iptc.org/newscodes/digitalsourcetype/).
#: Types not listed (algorithmicMedia, digitalArt, virtualRecording, ...) are reported but claim nothing here.
SOURCE_TYPE_CLAIMS = {
    "trainedAlgorithmicMedia": "generated",
    "compositeWithTrainedAlgorithmicMedia": "partly-generated",
    "compositeSynthetic": "edited",
    "algorithmicallyEnhanced": "edited",
    "minorHumanEdits": "edited",
    "humanEdits": "edited",
    "composite": "edited",
    "compositeCapture": "edited",
    "digitalCapture": "captured",
    "computationalCapture": "captured",
    "negativeFilm": "captured",
    "positiveFilm": "captured",
    "print": "captured",
}
#: claims from strongest to weakest: the row's ``claim`` is the first one any evidence makes
CLAIM_ORDER = ("generated", "partly-generated", "edited", "captured")
#: names of image generators that tools write into EXIF Software or XMP CreatorTool
GENERATOR_NAMES = re.compile(
    r"\b(midjourney|dall[-·]?e|stable diffusion|sdxl|comfyui|automatic1111|novelai|invokeai|fooocus|"
    r"firefly|imagen|leonardo\.ai|ideogram|dreamstudio|nightcafe|flux\.1)\b",
    re.IGNORECASE,
)
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff", "GIF": "image/gif",
         "AVIF": "image/avif", "HEIF": "image/heif"}  # fmt: skip
_EXIF_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x013B: "artist", 0x010E: "image_description"}
_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286


def evidence(source: str | os.PathLike | bytes, trust_anchors: str | None = None) -> dict[str, Any]:
    """Everything the file says about its origin, as a JSON-serialisable dict.

    Args:
        source: a path, or the bytes of an image file.
        trust_anchors: PEM bundle of C2PA trust anchors (default: the file named by
            ``FAKESCOPE_C2PA_TRUST_ANCHORS``, else none).

    Returns:
        ``summary`` (one line), ``claim`` (``generated``, ``partly-generated``, ``edited``,
        ``captured`` or ``None``: the strongest claim any metadata makes; an invalid C2PA
        manifest makes none) and ``claimed_by`` (which kinds make it), then one entry per kind: ``c2pa``
        (always: ``checked``, ``present``, and for a manifest ``validation_state``,
        ``trusted``, ``errors``, ``claim_generator``, ``signer``, ``actions``,
        ``digital_source_types``, ...), ``xmp``, ``exif``, ``generator_text``,
        ``comments`` (``None`` when the file has none), and ``errors`` (problems met).
    """
    out: dict[str, Any] = {"summary": "", "claim": None, "claimed_by": [], "format": None, "c2pa": None, "xmp": None,
                           "exif": None, "generator_text": None, "comments": None, "errors": []}  # fmt: skip
    try:
        data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(source)
    except OSError as exc:
        out["errors"].append(f"cannot read the file: {exc.strerror or exc}")
        out["c2pa"] = {"checked": False, "reason": "the file could not be read"}
        out["summary"] = "provenance not read: the file could not be read"
        return out
    try:
        with Image.open(io.BytesIO(data)) as img:
            out["format"] = img.format
            if img.format == "PNG":
                try:
                    _png_chunks_after_pixels(img, data)
                except Exception as exc:  # what came before the pixels is still read
                    reason = _text(str(exc) or type(exc).__name__, 200)
                    out["errors"].append(f"PNG chunks after the image data: {reason}")
            for key, read in (("xmp", _xmp), ("exif", _exif), ("generator_text", _generator_text),
                              ("comments", _comments)):  # fmt: skip
                try:
                    out[key] = read(img)
                except Exception as exc:  # one kind of metadata that cannot be parsed does not hide the others
                    out["errors"].append(f"{key}: {_text(str(exc) or type(exc).__name__, 200)}")
    except Image.UnidentifiedImageError:  # C2PA may still be read
        out["errors"].append("image metadata not read: not an image format Pillow knows")
    except Exception as exc:
        out["errors"].append(f"image metadata not read: {_text(str(exc) or type(exc).__name__, 200)}")
    exif_comment = (out["exif"] or {}).pop("_user_comment", None)
    if exif_comment and out["generator_text"] is None:  # AUTOMATIC1111 writes its parameters here in JPEG and WebP
        parsed = _parse_generator_text({"parameters": exif_comment}, where="EXIF UserComment")
        out["generator_text"] = parsed if parsed["tool"] else None
    out["c2pa"] = _c2pa(data, _MIME.get(out["format"] or ""), trust_anchors)
    _conclude(out)
    return _valid_text(out)


def _png_chunks_after_pixels(img: Image.Image, data: bytes) -> None:
    """Read the text and EXIF chunks that follow a PNG's image data into ``img.info``, without decoding it.

    Pillow reads the chunks before the image data when it opens a PNG, and those after it only when it
    decodes the pixels (``load()``, which ``getexif()`` calls when no EXIF came first): scanning a PNG
    then decoded it once for its pixels and once more for its provenance. Here the chunks are walked
    and the image data skipped; each chunk wanted is parsed by Pillow's own chunk reader, and the walk
    stops where Pillow's ``load()`` stops (the end, a malformed chunk, or the next frame of an APNG).
    """
    stream = PngImagePlugin.PngStream(io.BytesIO(data))
    stream.im_info = img.info  # the handlers write into the image's info, as when Pillow loads it
    stream.text_memory = getattr(img.png, "text_memory", 0) if getattr(img, "png", None) else 0
    pos, after_pixels = 8, False
    while pos + 8 <= len(data):
        length, cid = struct.unpack(">I4s", data[pos : pos + 8])
        if not _CHUNK_TYPE.fullmatch(cid):
            break
        if not after_pixels:
            after_pixels = cid in (b"IDAT", b"fdAT")
        elif cid == b"IEND" or (cid == b"fcTL" and getattr(img, "is_animated", False)):
            break
        elif cid in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
            stream.fp.seek(pos + 8)
            getattr(stream, f"chunk_{cid.decode('ascii')}")(pos + 8, length)
        pos += 12 + length  # length, type, data, CRC


_CHUNK_TYPE = re.compile(rb"\w\w\w\w")


def _read(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """Free text as one valid UTF-8 string of at most ``limit`` characters (an ellipsis and the full length
    mark a cut)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip().encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _valid_text(value: Any) -> Any:
    """Every string in a JSON-like value made valid UTF-8 (a manifest's JSON may hold lone surrogates), so that
    a row can always be written."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


def source_type_name(uri: str) -> str:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` -> ``trainedAlgorithmicMedia``."""
    return _text(str(uri).rstrip("/").rsplit("/", 1)[-1], 100)


# --- C2PA -----------------------------------------------------------------------------------------------------

_contexts: dict[str | None, Any] = {}
_contexts_lock = threading.Lock()


def _c2pa_context(c2pa, trust_anchors: str | None):
    """One reading context per trust-anchor bundle: offline (no remote manifests, no OCSP)."""
    with _contexts_lock:
        if trust_anchors not in _contexts:
            settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
            if trust_anchors:
                settings["trust"] = {"trust_anchors": trust_anchors}
            _contexts[trust_anchors] = c2pa.Context.from_dict(settings)
        return _contexts[trust_anchors]


def _default_trust_anchors() -> str | None:
    path = os.environ.get(TRUST_ANCHORS_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _c2pa(data: bytes, mime: str | None, trust_anchors: str | None) -> dict[str, Any]:
    try:
        import c2pa
    except ImportError:
        return {"checked": False, "reason": f"c2pa-python is not installed ({C2PA_INSTALL_HINT})"}
    try:
        anchors = trust_anchors if trust_anchors is not None else _default_trust_anchors()
    except OSError as exc:
        return {"checked": False, "reason": f"{TRUST_ANCHORS_ENV}: cannot read the trust anchors "
                f"({exc.strerror or exc})"}  # fmt: skip
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, _c2pa_context(c2pa, anchors))
        if reader is None:  # no manifest in the file
            return {"checked": True, "present": False}
        with reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.NotSupported:  # a format that cannot carry a manifest
        return {"checked": True, "present": False}
    except Exception as exc:  # a manifest that is there but cannot be parsed
        return {"checked": True, "present": None, "error": _text(str(exc) or type(exc).__name__, 300)}
    return {"checked": True, "present": True, **_manifest_store(store)}


def _manifest_store(store: dict) -> dict[str, Any]:
    """The parts of a C2PA manifest store (``Reader.json()``) that say where the image came from."""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) or {}
    state = store.get("validation_state")
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = results.get("failure") if results else store.get("validation_status")
    # "untrusted" is not a fault of the file: it says the signer is on no trust list given here (``trusted``).
    errors = [{"code": f.get("code"), "explanation": _text(f.get("explanation") or "", 200)}
              for f in failures or [] if f.get("code") != "signingCredential.untrusted"]  # fmt: skip
    if state is None:
        state = "Invalid" if errors else "Valid"
    actions = [_action(a) for a in _actions(active)[:20]]
    ingredient_types = sorted({source_type_name(a["digitalSourceType"]) for label, m in manifests.items()
                               if label != store.get("active_manifest") for a in _actions(m)
                               if a.get("digitalSourceType")})  # fmt: skip
    sig = active.get("signature_info") or {}
    signer = " / ".join(str(sig[k]) for k in ("issuer", "common_name") if sig.get(k)) or None
    return {
        "validation_state": state,
        "trusted": state == "Trusted",
        "errors": errors,
        "claim_generator": _claim_generator(active),
        "title": _text(active["title"], 200) if active.get("title") else None,
        "signer": signer,
        "signed_at": sig.get("time"),
        "actions": actions,
        "digital_source_types": sorted({a["digital_source_type"] for a in actions if a["digital_source_type"]}),
        "ingredient_source_types": ingredient_types,
        "manifests": len(manifests),
    }


def _actions(manifest: dict) -> list[dict]:
    out = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            out += [a for a in (assertion.get("data") or {}).get("actions") or [] if isinstance(a, dict)]
    return out


def _action(a: dict) -> dict[str, Any]:
    agent = a.get("softwareAgent")
    if isinstance(agent, dict):
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    return {"action": a.get("action"),
            "digital_source_type": source_type_name(a["digitalSourceType"]) if a.get("digitalSourceType") else None,
            "software_agent": _text(agent, 200) if agent else None,
            "description": _text(a["description"], 200) if a.get("description") else None}  # fmt: skip


def _claim_generator(manifest: dict) -> str | None:
    infos = manifest.get("claim_generator_info") or []
    if infos and isinstance(infos[0], dict) and infos[0].get("name"):
        return _text(" ".join(str(infos[0][k]) for k in ("name", "version") if infos[0].get(k)), 200)
    return _text(manifest["claim_generator"], 200) if manifest.get("claim_generator") else None


# --- XMP, EXIF, text chunks, comments ----------------------------------------------------------------------------


def _xmp(img: Image.Image) -> dict[str, Any] | None:
    """IPTC DigitalSourceType and the creator tool from the XMP packet (JPEG APP1, PNG iTXt, WebP, TIFF)."""
    packet = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if packet is None and hasattr(img, "tag_v2"):
        packet = img.tag_v2.get(700)  # TIFF's XMP tag
    if not packet:
        return None
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    found = _xmp_properties(bytes(packet).rstrip(b"\x00 \r\n\t"), ("DigitalSourceType", "CreatorTool"))
    out: dict[str, Any] = {"digital_source_type": None, "digital_source_type_uri": None, "creator_tool": None}
    if found.get("DigitalSourceType"):
        uri = found["DigitalSourceType"]
        out["digital_source_type"], out["digital_source_type_uri"] = source_type_name(uri), _text(uri, 200)
    if found.get("CreatorTool"):
        out["creator_tool"] = _text(found["CreatorTool"], 200)
    return out


def _xmp_properties(packet: bytes, names: tuple[str, ...]) -> dict[str, str]:
    """Simple XMP properties by local name, written as attributes or as elements."""
    import xml.etree.ElementTree as ET

    found: dict[str, str] = {}
    try:
        root = ET.fromstring(packet)  # expat: no external entities, bounded entity expansion
    except ET.ParseError:  # a packet cut or padded oddly: look for the properties in the text
        text = packet.decode("utf-8", "replace")
        for name in names:
            m = re.search(rf":{name}(?:\s*=\s*[\"']([^\"']*)|\s*>\s*([^<]*))", text)
            if m:
                found[name] = (m.group(1) or m.group(2) or "").strip()
        return found
    for el in root.iter():
        for key, value in el.attrib.items():
            local = key.rsplit("}", 1)[-1]
            if local in names:
                found.setdefault(local, value.strip())
        local = str(el.tag).rsplit("}", 1)[-1]
        if local in names and (el.text or "").strip():
            found.setdefault(local, el.text.strip())
    return found


def _exif(img: Image.Image) -> dict[str, Any] | None:
    # A PNG's getexif() would decode the pixels to reach an eXIf chunk after them: evidence() has read
    # those chunks already (_png_chunks_after_pixels), so the generic reader of img.info is enough.
    exif = Image.Image.getexif(img) if img.format == "PNG" else img.getexif()
    if not exif:
        return None
    out = {name: _text(exif[tag], 200) for tag, name in _EXIF_TAGS.items() if exif.get(tag)}
    comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if comment:
        out["_user_comment"] = _user_comment(comment)  # parsed as generator text by the caller, then dropped
        out["user_comment"] = _text(out["_user_comment"], MAX_TEXT)
    return {k: v for k, v in out.items() if v} or None


def _user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte character-code prefix (``ASCII``, ``UNICODE``, ``JIS`` or zeros), then the
    text."""
    if isinstance(raw, str):
        return raw
    code, body = raw[:8], raw[8:]
    if code == b"UNICODE\x00":
        # UTF-16 of either byte order; tools that write it rarely say which: the one that reads as more ASCII.
        be, le = body.decode("utf-16-be", "replace"), body.decode("utf-16-le", "replace")
        return be if sum(c.isascii() for c in be) >= sum(c.isascii() for c in le) else le
    if code in (b"ASCII\x00\x00\x00", b"JIS\x00\x00\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", "replace")
    return raw.decode("utf-8", "replace")  # no prefix, as some tools write it


def _comments(img: Image.Image) -> list[str] | None:
    """JPEG COM segments (every one), or a GIF comment."""
    found = [body for marker, body in getattr(img, "applist", []) if marker == "COM"]
    if not found and isinstance(img.info.get("comment"), (bytes, str)):
        found = [img.info["comment"]]
    texts = [_text(c) for c in found[:10]]
    return [t for t in texts if t] or None


#: PNG info keys that are decoded properties, not text chunks
_NOT_TEXT = {"dpi", "gamma", "transparency", "icc_profile", "exif", "xmp", "srgb", "chromaticity", "aspect",
             "XML:com.adobe.xmp", "duration", "loop", "default_image", "disposal", "blend", "bbox",
             "background"}  # fmt: skip


def _generator_text(img: Image.Image) -> dict[str, Any] | None:
    """PNG text chunks (tEXt, zTXt, iTXt, before or after the image data): a generator's settings summarised."""
    if img.format != "PNG":
        return None
    chunks = {k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str) and k not in _NOT_TEXT}
    return _parse_generator_text(chunks, where="PNG text") if chunks else None


def _parse_generator_text(chunks: dict[str, str], where: str) -> dict[str, Any]:
    """Which tool wrote these text chunks, its prompt and model, and every chunk shortened."""
    tool = prompt = model = None
    keys = {k.lower(): k for k in chunks}
    if "prompt" in keys or "workflow" in keys:
        graph = _json(chunks.get(keys.get("prompt", "")))
        if isinstance(graph, dict) or _json(chunks.get(keys.get("workflow", ""))) is not None:
            tool = "ComfyUI"
            prompt, model = _comfy_prompt(graph) if isinstance(graph, dict) else (None, None)
    if tool is None and ("invokeai_metadata" in keys or "sd-metadata" in keys or "dream" in keys):
        tool = "InvokeAI"
        meta = _json(chunks.get(keys.get("invokeai_metadata", keys.get("sd-metadata", "")))) or {}
        if isinstance(meta, dict):
            image = meta.get("image") if isinstance(meta.get("image"), dict) else {}
            prompt = meta.get("positive_prompt") or image.get("prompt") or chunks.get(keys.get("dream", ""))
            model = (meta.get("model") or {}).get("name") if isinstance(meta.get("model"), dict) else meta.get("model")
    if tool is None and "parameters" in keys:
        text = chunks[keys["parameters"]]
        params = _json(text)
        if isinstance(params, dict):  # Fooocus writes its settings as JSON
            tool = "Fooocus" if "fooocus_scheme" in keys or "Fooocus" in text else "unknown generator (JSON parameters)"
            prompt = params.get("prompt") or params.get("Prompt")
            model = params.get("base_model") or params.get("Base Model")
        elif re.search(r"(^|\n)Steps: \d+", text):
            tool, (prompt, model) = "AUTOMATIC1111-style (A1111, Forge, SD.Next)", _a1111(text)
    if tool is None and ("novelai" in str(chunks.get(keys.get("software", ""), "")).lower()
                         or str(chunks.get(keys.get("source", ""), "")).startswith("NovelAI")):  # fmt: skip
        tool, prompt = "NovelAI", chunks.get(keys.get("description", ""))
    named = GENERATOR_NAMES.search(" ".join(chunks.values())[:100_000]) if tool is None else None
    if named:
        tool = named.group(0)
    text = {_text(k, 80): _text(v, 200) for k, v in list(chunks.items())[:20]}
    return {"where": where, "tool": tool, "prompt": _text(prompt) if prompt else None,
            "model": _text(model, 200) if model else None, "text": text,
            "chars": sum(len(v) for v in chunks.values())}  # fmt: skip


def _json(text: str | None) -> Any:
    if not text or text.lstrip()[:1] not in "{[":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _comfy_prompt(graph: dict) -> tuple[str | None, str | None]:
    """The positive prompt (the text node a sampler's ``positive`` input links to) and the checkpoint of a
    ComfyUI API graph (``{node id: {"class_type", "inputs"}}``)."""
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict)}

    def text_of(node_id, depth=0):
        node = nodes.get(str(node_id)) or {}
        inputs = node.get("inputs") or {}
        for key in ("text", "text_g", "prompt"):
            if isinstance(inputs.get(key), str):
                return inputs[key]
        for value in inputs.values():  # follow a link through a conditioning node
            if isinstance(value, list) and len(value) == 2 and depth < 8:
                found = text_of(value[0], depth + 1)
                if found:
                    return found
        return None

    prompt = None
    for node in nodes.values():
        link = (node.get("inputs") or {}).get("positive")
        if isinstance(link, list) and link:
            prompt = text_of(link[0])
            if prompt:
                break
    if prompt is None:  # no sampler to follow: the first text encoder's text
        prompt = next((text_of(i) for i, n in nodes.items() if "TextEncode" in str(n.get("class_type"))), None)
    models = (n["inputs"].get("ckpt_name") or n["inputs"].get("unet_name") for n in nodes.values()
              if isinstance(n.get("inputs"), dict))  # fmt: skip
    model = next((m for m in models if isinstance(m, str) and m), None)
    return prompt, model


def _a1111(text: str) -> tuple[str | None, str | None]:
    """Prompt and model of AUTOMATIC1111's ``parameters``: the prompt, an optional ``Negative prompt:`` line,
    then one line of ``Key: value`` settings starting with ``Steps:``."""
    settings_at = [m.start() for m in re.finditer(r"(^|\n)Steps: \d+", text)][-1]
    head = text[:settings_at]
    prompt = re.split(r"\nNegative prompt:", head, maxsplit=1)[0].strip()
    m = re.search(r"(?:^|, )Model: ([^,\n]+)", text[settings_at:])
    return prompt or None, m.group(1).strip() if m else None


# --- the conclusion -------------------------------------------------------------------------------------------


def _conclude(out: dict[str, Any]) -> None:
    """Fill ``claim``, ``claimed_by`` and ``summary`` from the evidence read."""
    claims: list[tuple[str, str]] = []  # (claim, which kind of metadata makes it)
    parts: list[str] = []
    c = out["c2pa"]
    if not c["checked"]:
        parts.append(f"C2PA not checked ({c['reason']})")
    elif c["present"] is None:
        parts.append(f"C2PA: manifest unreadable ({c['error']})")
    elif c["present"]:
        types = c["digital_source_types"] or [f"ingredient {t}" for t in c["ingredient_source_types"]]
        if c["validation_state"] != "Invalid":  # what a tampered manifest says is reported, not believed
            for t in c["digital_source_types"] + c["ingredient_source_types"]:
                if SOURCE_TYPE_CLAIMS.get(t):
                    claims.append((SOURCE_TYPE_CLAIMS[t], "c2pa"))
        state = c["validation_state"].lower()
        if c["errors"]:
            state += ": " + ", ".join(e["code"] for e in c["errors"][:3])
        elif not c["trusted"]:
            state += ", signer not on a trust list"
        what = ", ".join(types) or "no digital source type"
        by = f" by {c['claim_generator']}" if c["claim_generator"] else ""
        parts.append(f"C2PA: {what}{by} ({state})")
    x = out["xmp"]
    if x and x["digital_source_type"]:
        parts.append(f"XMP DigitalSourceType: {x['digital_source_type']}")
        if SOURCE_TYPE_CLAIMS.get(x["digital_source_type"]):
            claims.append((SOURCE_TYPE_CLAIMS[x["digital_source_type"]], "xmp"))
    if x and x["creator_tool"]:
        parts.append(f"XMP CreatorTool: {x['creator_tool']}")
        if GENERATOR_NAMES.search(x["creator_tool"]):
            claims.append(("generated", "xmp"))
    g = out["generator_text"]
    if g:
        if g["tool"]:
            claims.append(("generated", "generator_text"))
            prompt = f", prompt '{_text(g['prompt'], 60)}'" if g["prompt"] else ""
            parts.append(f"{g['where']} by {g['tool']}{prompt}")
        else:
            parts.append(f"{g['where']}: " + ", ".join(list(g["text"])[:5]))
    e = out["exif"]
    if e:
        camera = " ".join(e[k] for k in ("make", "model") if e.get(k))
        bits = [camera] if camera else []
        if e.get("software"):
            bits.append(f"software {e['software']}")
            if GENERATOR_NAMES.search(e["software"]):
                claims.append(("generated", "exif"))
        if bits:
            parts.append("EXIF: " + ", ".join(bits))
    if out["comments"]:
        parts.append(f"comment '{_text(out['comments'][0], 60)}'")
    for claim in CLAIM_ORDER:
        by = list(dict.fromkeys(kind for c_, kind in claims if c_ == claim))
        if by:
            out["claim"], out["claimed_by"] = claim, by
            break
    found = [p for p in parts if not p.startswith("C2PA not checked")]
    if not found:
        parts.insert(0, "no provenance metadata")
    out["summary"] = "; ".join(parts)

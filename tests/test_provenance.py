"""Provenance evidence: C2PA manifests signed here and read back, XMP, EXIF, generators' PNG text, comments."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from fakescope.provenance import evidence
from tests.c2pa_test_signer import IPTC, make_signer, sign


def needs_c2pa():
    import importlib.util

    if importlib.util.find_spec("c2pa") is None:
        if os.environ.get("CI"):
            pytest.fail("c2pa-python missing on CI: .ci/run must install the 'provenance' extra")
        pytest.skip("c2pa-python not installed (pip install 'fakescope[provenance]')")


@pytest.fixture(scope="module")
def signer():
    needs_c2pa()
    return make_signer()


def picture(seed: int = 0, size: int = 64) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def xmp_packet(source_type: str, creator_tool: str | None = None, as_element: bool = False) -> bytes:
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    if as_element:
        prop, body = "", f"<Iptc4xmpExt:DigitalSourceType>{IPTC}{source_type}</Iptc4xmpExt:DigitalSourceType>"
    else:
        prop, body = f' Iptc4xmpExt:DigitalSourceType="{IPTC}{source_type}"', ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/"{prop}{tool}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
        '<?xpacket end="w"?>'
    ).encode()


def round_trips(ev: dict) -> dict:
    """The evidence is plain JSON: it survives a dump and a load unchanged."""
    assert json.loads(json.dumps(ev)) == ev
    return ev


# --- C2PA ---------------------------------------------------------------------------------------------------


def test_a_signed_generated_image_reads_back_as_a_valid_manifest(signer, tmp_path):
    picture().save(tmp_path / "plain.jpg", quality=92)
    signed = sign(tmp_path / "plain.jpg", tmp_path / "signed.jpg", signer, agent="TestDiffusion 1.0")
    ev = round_trips(evidence(signed))
    c = ev["c2pa"]
    assert c["checked"] and c["present"] and c["validation_state"] == "Valid" and c["errors"] == []
    assert c["trusted"] is False  # the test CA is on no trust list
    assert c["claim_generator"] == "fakescope-tests 1.0"
    assert c["signer"] == "fakescope tests / fakescope test signer"
    assert c["actions"] == [{"action": "c2pa.created", "digital_source_type": "trainedAlgorithmicMedia",
                             "software_agent": "TestDiffusion 1.0", "description": None}]  # fmt: skip
    assert c["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert ev["claim"] == "generated" and ev["claimed_by"] == ["c2pa"]
    assert ev["summary"].startswith("C2PA: trainedAlgorithmicMedia by fakescope-tests 1.0 (valid")
    # the same file without its manifest says nothing
    plain = evidence(tmp_path / "plain.jpg")
    assert plain["c2pa"] == {"checked": True, "present": False} and plain["claim"] is None
    assert plain["summary"] == "no provenance metadata"


def test_pixels_changed_after_signing_make_the_manifest_invalid(signer, tmp_path):
    picture().save(tmp_path / "plain.jpg", quality=92)
    signed = sign(tmp_path / "plain.jpg", tmp_path / "signed.jpg", signer)
    data = bytearray(signed.read_bytes())
    data[-40] ^= 0x55  # inside the entropy-coded pixels, far from the manifest's APP11 segments
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    Image.open(tampered).load()  # still a decodable picture, only its pixels differ
    assert np.any(np.asarray(Image.open(tampered)) != np.asarray(Image.open(signed)))
    ev = round_trips(evidence(tampered))
    c = ev["c2pa"]
    assert c["present"] and c["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in [e["code"] for e in c["errors"]]
    assert c["digital_source_types"] == ["trainedAlgorithmicMedia"]  # what it says is still reported...
    assert ev["claim"] is None  # ...but not believed
    assert "(invalid: assertion.dataHash.mismatch" in ev["summary"]


def test_a_signer_under_a_given_trust_anchor_is_trusted(signer, tmp_path, monkeypatch):
    picture().save(tmp_path / "plain.png")
    signed = sign(tmp_path / "plain.png", tmp_path / "signed.png", signer, source_type="digitalCapture")
    trusted = evidence(signed, trust_anchors=signer.ca_pem)["c2pa"]
    assert trusted["validation_state"] == "Trusted" and trusted["trusted"] and trusted["errors"] == []
    (tmp_path / "anchors.pem").write_text(signer.ca_pem)
    monkeypatch.setenv("FAKESCOPE_C2PA_TRUST_ANCHORS", str(tmp_path / "anchors.pem"))
    ev = evidence(signed)
    assert ev["c2pa"]["trusted"] and ev["claim"] == "captured"
    assert evidence(signed, trust_anchors=make_signer().ca_pem)["c2pa"]["trusted"] is False  # another CA


def test_a_partly_generated_png_is_reported_as_such(signer, tmp_path):
    picture().save(tmp_path / "plain.png")
    signed = sign(tmp_path / "plain.png", tmp_path / "signed.png", signer,
                  source_type="compositeWithTrainedAlgorithmicMedia")  # fmt: skip
    ev = evidence(signed)
    assert ev["format"] == "PNG" and ev["c2pa"]["validation_state"] == "Valid"
    assert ev["c2pa"]["digital_source_types"] == ["compositeWithTrainedAlgorithmicMedia"]
    assert ev["claim"] == "partly-generated"


def test_without_c2pa_python_the_rest_of_the_evidence_is_still_read(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    picture().save(tmp_path / "x.jpg", xmp=xmp_packet("trainedAlgorithmicMedia"))
    ev = round_trips(evidence(tmp_path / "x.jpg"))
    assert ev["c2pa"]["checked"] is False and "c2pa-python is not installed" in ev["c2pa"]["reason"]
    assert ev["xmp"]["digital_source_type"] == "trainedAlgorithmicMedia" and ev["claim"] == "generated"
    assert "C2PA not checked" in ev["summary"] and "XMP DigitalSourceType: trainedAlgorithmicMedia" in ev["summary"]
    picture().save(tmp_path / "plain.jpg")
    assert evidence(tmp_path / "plain.jpg")["summary"].startswith("no provenance metadata; C2PA not checked")


# --- XMP, EXIF, PNG text, comments ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("as_element", [False, True])
def test_iptc_digital_source_type_is_read_from_the_xmp_packet(fmt, as_element, tmp_path):
    path = tmp_path / f"x.{fmt.lower()}"
    packet = xmp_packet("compositeWithTrainedAlgorithmicMedia", creator_tool="Adobe Photoshop 25.0",
                        as_element=as_element)  # fmt: skip
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode())
        picture().save(path, pnginfo=info)
    else:
        picture().save(path, fmt, xmp=packet)
    ev = round_trips(evidence(path))
    assert ev["xmp"] == {"digital_source_type": "compositeWithTrainedAlgorithmicMedia",
                         "digital_source_type_uri": IPTC + "compositeWithTrainedAlgorithmicMedia",
                         "creator_tool": "Adobe Photoshop 25.0"}  # fmt: skip
    assert ev["claim"] == "partly-generated" and ev["claimed_by"] == ["xmp"]


def test_a_malformed_xmp_packet_is_still_searched_and_never_raises(tmp_path):
    packet = xmp_packet("trainedAlgorithmicMedia")[:-60]  # cut: no longer well-formed XML
    picture().save(tmp_path / "x.jpg", xmp=packet)
    ev = evidence(tmp_path / "x.jpg")
    assert ev["xmp"]["digital_source_type"] == "trainedAlgorithmicMedia"
    picture().save(tmp_path / "y.jpg", xmp=b"\xff\xfe<not xml")
    assert evidence(tmp_path / "y.jpg")["xmp"]["digital_source_type"] is None


def test_exif_camera_and_software(tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS R5", "Adobe Lightroom 13.0"
    picture().save(tmp_path / "photo.jpg", exif=exif)
    ev = round_trips(evidence(tmp_path / "photo.jpg"))
    assert ev["exif"] == {"make": "Canon", "model": "Canon EOS R5", "software": "Adobe Lightroom 13.0"}
    assert ev["claim"] is None  # a camera name in EXIF is easy to write and claims nothing here
    assert "EXIF: Canon Canon EOS R5, software Adobe Lightroom 13.0" in ev["summary"]
    exif[0x0131] = "Midjourney v6"
    picture().save(tmp_path / "mj.jpg", exif=exif)
    ev = evidence(tmp_path / "mj.jpg")
    assert ev["claim"] == "generated" and ev["claimed_by"] == ["exif"]


def comfy_graph(positive: str, negative: str) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "model": ["4", 0],
                                                    "negative": ["6", 0], "positive": ["7", 0]}},
    }  # fmt: skip


def test_comfyui_text_chunks_are_summarised_not_dumped(tmp_path):
    positive = "a photo of a red fox in the snow, " * 30  # longer than what is kept
    info = PngInfo()
    info.add_text("prompt", json.dumps(comfy_graph(positive, "blurry, low quality")))
    info.add_text("workflow", json.dumps({"nodes": [{"id": i, "widgets_values": ["x" * 1000]} for i in range(300)]}),
                  zip=True)  # fmt: skip
    picture().save(tmp_path / "comfy.png", pnginfo=info)
    ev = round_trips(evidence(tmp_path / "comfy.png"))
    g = ev["generator_text"]
    assert g["tool"] == "ComfyUI" and g["model"] == "sd_xl_base_1.0.safetensors"
    assert g["prompt"].startswith("a photo of a red fox") and "blurry" not in g["prompt"]  # the positive one
    assert g["chars"] > 300_000 and len(json.dumps(ev)) < 3_000  # counted, not copied
    assert all(len(v) < 240 for v in g["text"].values())
    assert ev["claim"] == "generated" and ev["claimed_by"] == ["generator_text"]
    assert "PNG text by ComfyUI, prompt 'a photo of a red fox" in ev["summary"]


A1111 = ("portrait of an astronaut, detailed\nNegative prompt: ugly, deformed\n"
         "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, "
         "Model: v1-5-pruned-emaonly, Version: v1.6.0")  # fmt: skip


def test_a1111_parameters_in_a_png(tmp_path):
    info = PngInfo()
    info.add_text("parameters", A1111)
    picture().save(tmp_path / "a.png", pnginfo=info)
    g = evidence(tmp_path / "a.png")["generator_text"]
    assert g["tool"].startswith("AUTOMATIC1111") and g["where"] == "PNG text"
    assert g["prompt"] == "portrait of an astronaut, detailed" and g["model"] == "v1-5-pruned-emaonly"


def test_a1111_parameters_in_a_jpeg_exif_user_comment(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    picture().save(tmp_path / "a.jpg", exif=exif)
    ev = round_trips(evidence(tmp_path / "a.jpg"))
    g = ev["generator_text"]
    assert g["where"] == "EXIF UserComment" and g["tool"].startswith("AUTOMATIC1111")
    assert g["prompt"] == "portrait of an astronaut, detailed"
    assert ev["exif"]["user_comment"].startswith("portrait of an astronaut") and "_user_comment" not in ev["exif"]
    assert ev["claim"] == "generated"
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00holiday in Rome"
    picture().save(tmp_path / "b.jpg", exif=exif)
    ev = evidence(tmp_path / "b.jpg")
    assert ev["exif"]["user_comment"] == "holiday in Rome" and ev["generator_text"] is None and ev["claim"] is None


def test_png_text_of_no_known_generator_is_listed_without_a_claim(tmp_path):
    info = PngInfo()
    info.add_text("Title", "Holiday <2024>")
    info.add_text("Author", "Ana")
    picture().save(tmp_path / "t.png", pnginfo=info)
    ev = evidence(tmp_path / "t.png")
    assert ev["generator_text"]["tool"] is None and ev["generator_text"]["text"] == {"Title": "Holiday <2024>",
                                                                                  "Author": "Ana"}  # fmt: skip
    assert ev["claim"] is None and "PNG text: Title, Author" in ev["summary"]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_png_metadata_after_the_pixels_is_read_without_decoding_them(tmp_path, monkeypatch):
    """Text, EXIF and XMP chunks may follow a PNG's image data, where Pillow reads them only by decoding
    the pixels: evidence() reads them by walking the chunks, and decodes nothing."""
    import zlib

    from PIL import PngImagePlugin

    buf = io.BytesIO()
    picture(size=300).save(buf, "PNG")
    exif = Image.Exif()
    exif[0x010F], exif[0x0131] = "Canon", "Adobe Photoshop"
    after = [_png_chunk(b"tEXt", b"parameters\0" + A1111.encode()),
             _png_chunk(b"zTXt", b"Author\0\0" + zlib.compress(b"Ana")),
             _png_chunk(b"eXIf", exif.tobytes()),
             _png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp_packet("compositeSynthetic"))]  # fmt: skip
    data = buf.getvalue()
    end = data.rindex(b"IEND") - 4
    (tmp_path / "late.png").write_bytes(data[:end] + b"".join(after) + data[end:])

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    ev = round_trips(evidence(tmp_path / "late.png"))
    assert ev["errors"] == []
    assert ev["generator_text"]["tool"].startswith("AUTOMATIC1111") and ev["generator_text"]["text"]["Author"] == "Ana"
    assert ev["exif"] == {"make": "Canon", "software": "Adobe Photoshop"}
    assert ev["xmp"]["digital_source_type"] == "compositeSynthetic"
    assert ev["claim"] == "generated" and ev["claimed_by"] == ["generator_text"]
    # a malformed chunk ends the walk, as it ends Pillow's: what came before it is kept
    cut = data[:end] + after[0] + b"\0\0\0\x04!!!!abcd\0\0\0\0" + after[2] + data[end:]
    ev = evidence(cut)
    assert ev["generator_text"]["tool"].startswith("AUTOMATIC1111") and ev["exif"] is None and ev["errors"] == []


def test_jpeg_comments(tmp_path):
    picture().save(tmp_path / "c.jpg", comment=b"Created with a \xe2\x80\x9cmagic\xe2\x80\x9d tool " + b"z" * 500)
    ev = round_trips(evidence(tmp_path / "c.jpg"))
    assert ev["comments"][0].startswith("Created with a \u201cmagic\u201d tool") and len(ev["comments"][0]) < 340
    assert "comment 'Created with a" in ev["summary"]


def test_never_raises_on_files_it_cannot_make_sense_of(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    ev = round_trips(evidence(tmp_path / "notes.jpg"))
    assert ev["errors"] and ev["format"] is None and ev["claim"] is None
    missing = evidence(tmp_path / "missing.jpg")
    assert missing["errors"][0].startswith("cannot read the file") and missing["c2pa"]["checked"] is False
    buf = io.BytesIO()
    picture().save(buf, "PNG")
    assert evidence(buf.getvalue())["format"] == "PNG"  # bytes as well as paths

"""A throwaway C2PA signer for tests: an ES256 test CA and an end-entity certificate made on the spot.

The C2PA SDK refuses a self-signed signing certificate: the signer must be an end-entity
certificate (not a CA) with digitalSignature key usage and an accepted extended key usage
(emailProtection here), issued by a CA; the chain given to the signer is leaf then CA.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass
class SigningKit:
    chain_pem: str  # end-entity certificate, then the CA
    key_pem: str
    ca_pem: str  # the trust anchor, for tests that trust it


def make_signer() -> SigningKit:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fakescope tests")])  # fmt: skip

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)  # fmt: skip

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("fakescope test CA")).issuer_name(name("fakescope test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(name("fakescope test signer")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    return SigningKit(chain_pem=pem(leaf) + pem(ca), key_pem=key_pem, ca_pem=pem(ca))


def sign(src: Path, dest: Path, signer: SigningKit, source_type: str = "trainedAlgorithmicMedia",
         generator: str = "fakescope-tests", agent: str = "TestDiffusion 1.0") -> Path:  # fmt: skip
    """Embed a signed manifest saying ``src`` was created with ``source_type``; written to ``dest``."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": dest.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": IPTC + source_type, "softwareAgent": {"name": agent}},
        ]}}],
    }  # fmt: skip
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.chain_pem.encode(), signer.key_pem.encode(), None)
    with c2pa.Signer.from_info(info) as s, c2pa.Builder(manifest) as builder:
        builder.sign_file(str(src), str(dest), s)
    return dest

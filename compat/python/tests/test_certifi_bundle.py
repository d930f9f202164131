"""The suite's certifi step, as a user does it for uamqp: the CA is appended
once, however often it is asked, and the bundle comes back as it was."""

import certifi

from support import certifi_bundle

PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
ORIGINAL = "# certifi's own roots\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"


def test_appended_once_and_restored(tmp_path, monkeypatch):
    bundle = tmp_path / "cacert.pem"
    bundle.write_text(ORIGINAL)
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))

    restore = certifi_bundle.trust_in_certifi(PEM)
    certifi_bundle.trust_in_certifi(PEM)  # a second ask appends nothing more
    text = bundle.read_text()
    assert text.startswith(ORIGINAL)
    assert text.count("MIIBfake") == 1
    restore()
    assert bundle.read_text() == ORIGINAL


def test_a_block_left_by_a_killed_run_is_replaced(tmp_path, monkeypatch):
    bundle = tmp_path / "cacert.pem"
    bundle.write_text(ORIGINAL)
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    certifi_bundle.trust_in_certifi(PEM.replace("fake", "stale"))  # never restored

    restore = certifi_bundle.trust_in_certifi(PEM)
    text = bundle.read_text()
    assert "MIIBstale" not in text and text.count("MIIBfake") == 1
    restore()
    assert bundle.read_text() == ORIGINAL


def test_a_ca_the_user_already_added_is_left_alone(tmp_path, monkeypatch):
    bundle = tmp_path / "cacert.pem"
    bundle.write_text(ORIGINAL + PEM)
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    restore = certifi_bundle.trust_in_certifi(PEM)
    assert bundle.read_text() == ORIGINAL + PEM
    restore()
    assert bundle.read_text() == ORIGINAL + PEM

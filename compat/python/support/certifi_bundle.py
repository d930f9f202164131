"""Trusting the emulator's CA the way uamqp needs it.

uamqp (azure-iot-hub's send_c2d_message, the az CLI's AMQP commands) reads
only certifi's bundle, certifi.where(), and azure-iot-hub has no option to
pass it another CA (REQUESTS_CA_BUNDLE covers only its REST calls). A user appends
the emulator's CA to that file; the session fixture does the same, once,
and puts the file back afterwards."""

from pathlib import Path

import certifi

# Appending the emulator's CA to certifi's bundle is how a user makes uamqp
# (azure-iot-hub's send_c2d_message, the az CLI) trust it: uamqp reads only
# certifi.where(). These markers let the suite find its own block again.
_BEGIN = "# iothub-emulator CA (added by the compat suite)"
_END = "# end of iothub-emulator CA"


def _without_suite_blocks(bundle):
    out, skipping = [], False
    for line in bundle.splitlines(keepends=True):
        if line.strip() == _BEGIN:
            skipping = True
        elif skipping and line.strip() == _END:
            skipping = False
        elif not skipping:
            out.append(line)
    return "".join(out)


def trust_in_certifi(ca_pem):
    """Append ca_pem to certifi's cacert.pem unless it is already there, and
    return a function that puts the bundle back as it was.

    A block left by an earlier run that was killed before restoring is
    dropped first, so the bundle never grows run after run."""
    path = Path(certifi.where())
    original = path.read_text()
    clean = _without_suite_blocks(original)
    pem = ca_pem.strip()
    if pem in clean:
        return lambda: None
    path.write_text(clean.rstrip("\n") + f"\n{_BEGIN}\n{pem}\n{_END}\n")

    def restore():
        path.write_text(clean)

    return restore

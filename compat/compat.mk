# Placeholder until the SDK suites land: fail loudly rather than pass.
.PHONY: compat
compat:
	@echo "compat: the SDK compatibility suites are not in place yet" >&2; exit 1

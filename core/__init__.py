"""Small helpers every layer uses: settings, clock, crypto, signing, log redaction."""

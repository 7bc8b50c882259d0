"""The offline sandbox: real stand-ins for AWS on loopback."""

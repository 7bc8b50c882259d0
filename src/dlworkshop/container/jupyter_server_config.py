"""Jupyter in the workshop image: always a token (random unless JUPYTER_TOKEN is set), never
a password, and nothing but the notebooks folder."""

import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - Jupyter's loader provides it

# Every interface inside the container (the image's DLWORKSHOP_BIND_ADDRESS; the offline
# sandbox sets the instance's loopback address); outside, publish it on loopback only
# (-p 127.0.0.1:8888:8888) or reach it through the SSH tunnel of Lab 3.
c.ServerApp.ip = os.environ.get("DLWORKSHOP_BIND_ADDRESS") or "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/home/app/notebooks"
# A token is required (Jupyter makes a random one when JUPYTER_TOKEN is unset or empty);
# no password can be set from the browser to replace it.
c.PasswordIdentityProvider.allow_password_change = False
c.ServerApp.allow_remote_access = True  # requests arrive through Docker's port mapping

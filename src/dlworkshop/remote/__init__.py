"""SSH to container instances: tunnels and forwarded sockets."""

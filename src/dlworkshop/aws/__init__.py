"""boto3 operations; every client comes from the session factory."""

"""The CloudFormation template(s) and their parameters."""

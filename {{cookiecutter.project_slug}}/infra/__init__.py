"""The Pulumi program that provisions the project's GCP capacity (see infra/README.md).

One ComponentResource per module; `infra/__main__.py` is the entry point the Pulumi CLI runs and
`infra.plan` runs the same program offline under recording mocks.
"""

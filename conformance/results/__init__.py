"""What a run found: the ledger of verdicts and evidence, the report writers, and the diff of two reports.
"""

"""What to send, derived from the contract and never from the network: valid values, one probe per limit or
violation, requests that exercise fields together, and the one module that touches Hypothesis' internals.
"""

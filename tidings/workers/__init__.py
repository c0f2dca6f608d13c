"""Workers: the dispatch loop, the outcome writer, the sweeper and the batch reporter.

Every status change of a delivery passes through `OutcomeWriter`, which applies it in a grouped
transaction together with the webhooks it causes.
"""

"""Writes on submissions, runs, grades and regrade batches.

Callers import the module they mean (`submissions.services.intake`, ...): this
package re-exports nothing, so importing one service loads only what it needs.
"""

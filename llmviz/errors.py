"""One kind of error for "the learner asked for something impossible".

Every refusal the app or the command line shows in plain words (a text that is too short, settings
that cannot work, a file that is not a checkpoint, a loss that became NaN) is a `LearnerError`. A
background `llmviz.jobs.Job` whose work raises one ends as failed with exactly that message and no
traceback; any other exception is a bug and is reported as one.
"""

from __future__ import annotations


class LearnerError(ValueError):
    """The request cannot be met; str(error) says why and what to do instead, for the learner."""


class EmbeddingError(LearnerError):
    """Word vectors that cannot be learned or looked at as asked (word2vec, the autoencoder, projections)."""

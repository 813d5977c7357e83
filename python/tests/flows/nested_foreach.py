"""Grid search in the style of Metaflow's tutorials: nested foreach and helper code."""

import math

from metaflow import FlowSpec, Parameter, card, current, step

LEARNING_RATES = (0.1, 0.01)


def score(rate, depth):
    """A stand-in for training a model."""
    return round(math.exp(-rate) * depth, 6)


class GridFlow(FlowSpec):
    """Train one model per learning rate and depth, keep the best."""

    max_depth = Parameter("max-depth", default=3, type=int, help="Largest depth tried.")
    SEED = 7

    def depths(self):
        return list(range(1, self.max_depth + 1))

    @card
    @step
    def start(self):
        self.rates = list(LEARNING_RATES)
        self.next(self.per_rate, foreach="rates")

    @step
    def per_rate(self):
        self.rate = self.input
        self.depth_grid = self.depths()
        self.next(self.train, foreach="depth_grid")

    @step
    def train(self):
        self.depth = self.input
        self.score = score(self.rate, self.depth)
        self.next(self.best_depth)

    @step
    def best_depth(self, results):
        best = max(results, key=lambda r: r.score)
        self.rate = best.rate
        self.best = (best.score, best.depth)
        self.next(self.best_rate)

    @step
    def best_rate(self, inputs):
        self.winner = max((i.best, i.rate) for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("winner", self.winner, current.run_id is not None)


if __name__ == "__main__":
    GridFlow()

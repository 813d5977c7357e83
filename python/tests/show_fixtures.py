"""Flow and helper module written into the temporary directory of the ``%mf_show`` tests."""

FLOW = """
from metaflow import FlowSpec, Parameter, step


class ShowFlow(FlowSpec):
    scale = Parameter("scale", default=1)

    @step
    def start(self):
        import numpy as np
        import pandas as pd
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from PIL import Image
        from sklearn.linear_model import LogisticRegression
        from richobj import Broken, Rich

        payload = '<img src=x onerror="window.__pwned=1">'
        self.df = pd.DataFrame({"a": range(1000), payload: [payload] * 1000,
                                "f": np.linspace(0, 1, 1000) * self.scale})
        self.series = pd.Series(np.arange(50) * self.scale, name="s")
        self.big = pd.DataFrame({"x": np.arange(1_000_000), "y": np.ones(1_000_000) * self.scale})
        self.arr = np.arange(12.0).reshape(3, 4) * self.scale
        self.img = (np.indices((40, 30)).sum(axis=0) % 255).astype("uint8")
        self.photo = Image.new("RGB", (64, 48), (200, 30, 30))
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([1, 2, 3], [1, 4, 9])
        self.fig = fig
        self.model = LogisticRegression(C=0.5 * self.scale)
        self.nested = {payload: {"deep": list(range(500))}, "n": 1, "t": (1, "two"),
                       "s": {3, 1, 2}}
        self.words = "hello <b>world</b>\\n" * 1000
        self.blob = bytes(range(256)) * 10
        self.rich = Rich()
        self.rich.scale = self.scale  # differs between the two runs
        self.broken = Broken()
        self.items = [1, 2, 3]
        self.next(self.train, foreach="items")

    @step
    def train(self):
        self.score = self.input * 10 * self.scale
        self.next(self.join)

    @step
    def join(self, inputs):
        self.scores = [i.score for i in inputs]
        self.merge_artifacts(inputs, include=["df", "arr"])
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    ShowFlow()
"""

RICHOBJ = '''
class Rich:
    """An object with its own HTML view."""

    def _repr_html_(self):
        return "<b onclick=\\"window.__pwned=1\\">rich</b>"

    def __repr__(self):
        return "Rich()"


class Broken:
    """An object whose repr raises."""

    def __repr__(self):
        raise RuntimeError("no repr for you")
'''

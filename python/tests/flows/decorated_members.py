import functools

from metaflow import FlowSpec, step


class DecoratedMembersFlow(FlowSpec):
    @property
    def scale(self):
        return 3

    @step
    def start(self):
        @functools.cache
        def square(x):
            return x * x

        self.value = square(4) * self.scale
        self.next(self.middle)

    @step
    def middle(self):
        self.double = self.value * 2
        self.next(self.end)

    @step
    def end(self):
        """The last step."""

        @functools.cache
        def total():
            return self.double + self.value

        self.total = total()


if __name__ == "__main__":
    DecoratedMembersFlow()

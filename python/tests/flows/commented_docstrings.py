from metaflow import FlowSpec, step


class CommentedDocFlow(FlowSpec):
    # what this flow is for, above its docstring
    """A flow whose class and steps have comments above their docstrings."""

    @step
    def start(self):
        # above the step's docstring
        """Pick a number."""
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        """Done."""
        pass


if __name__ == "__main__":
    CommentedDocFlow()

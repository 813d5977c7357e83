from metaflow import FlowSpec, Parameter, step


class RouteFlow(FlowSpec):
    """Route to one of two steps depending on a parameter."""

    mode = Parameter("mode", default="fast")

    @step
    def start(self):
        self.route = self.mode
        self.next({"fast": self.quick, "slow": self.careful}, condition="route")

    @step
    def quick(self):
        self.result = "quick"
        self.next(self.finish)

    @step
    def careful(self):
        self.result = "careful"
        self.next(self.finish)

    @step
    def finish(self):
        # not a join: only one of the two cases ran
        self.done = True
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RouteFlow()

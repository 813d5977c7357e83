from metaflow import FlowSpec, catch, project, retry, step

# the decorators the steps use

# a standalone comment between the imports and the class


# ===== the flow =====
# what it does
@project(name="commented")
# between the class decorators
class CommentedFlow(FlowSpec):
    # a class constant
    LIMIT = 3

    # ---- section: start ----
    @retry(times=1)
    # between decorators
    @catch(var="failure")
    @step
    def start(self):
        # body comment
        self.x = self.LIMIT
        self.next(self.end)
        # after the transition

    # ---- section: end ----
    @step
    def end(self):
        pass

    # the class's last comment


# the file's last comment
if __name__ == "__main__":
    # run it
    CommentedFlow()

from metaflow import FlowSpec, IncludeFile, catch, resources, retry, step


def script_path(filename):
    import os

    return os.path.join(os.path.dirname(__file__), filename)


class MovieStatsFlow(FlowSpec):
    """
    A flow to generate some statistics about the movie genres.

    The flow performs the following steps:
    1) Ingests a CSV into a list of rows.
    2) Fan-out over genre.
    3) Compute statistics for each genre.
    4) Save a dictionary of genre-specific statistics.

    """

    movie_data = IncludeFile(
        "movie_data",
        help="The path to a movie metadata file.",
        default=script_path("movies.csv"),
    )

    @step
    def start(self):
        """
        The start step:
        1) Loads the movie metadata into a list of rows.
        2) Finds all the unique genres.
        3) Launches parallel statistics computation for each genre.

        """
        rows = [line.split(",") for line in self.movie_data.splitlines()[1:] if line]
        self.rows = rows
        # The genre column holds pipe separated genres.
        self.genres = sorted({g for row in rows for g in row[2].split("|")})

        # We want to compute some statistics for each genre. The 'foreach'
        # keyword parameter allows us to compute the statistics for each genre in
        # parallel (i.e. a fan-out).
        self.next(self.compute_statistics, foreach="genres")

    @catch(var="compute_failed")
    @retry(times=1)
    @resources(memory=1024, cpu=1)
    @step
    def compute_statistics(self):
        """
        Compute statistics for a single genre.

        """
        # The genre currently being processed is a class property called
        # 'input'.
        self.genre = self.input
        print(f"Computing statistics for {self.genre}")

        selected = [row for row in self.rows if self.genre in row[2].split("|")]
        grosses = sorted(int(row[3]) for row in selected)
        self.quartiles = [grosses[len(grosses) * q // 4] for q in (1, 2, 3)] if grosses else []
        self.count = len(selected)

        # Join the results from other genres.
        self.next(self.join)

    @step
    def join(self, inputs):
        """
        Join our parallel branches and merge results into a dictionary.

        """
        # Merge results from the genre-specific computations.
        self.genre_stats = {
            inp.genre.lower(): {"quartiles": inp.quartiles, "count": inp.count} for inp in inputs
        }

        self.next(self.end)

    @step
    def end(self):
        """
        End the flow.

        """
        pass


if __name__ == "__main__":
    MovieStatsFlow()

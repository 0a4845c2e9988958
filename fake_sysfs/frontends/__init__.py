"""Ways to reach the one kernfs view: in-process, exported directory trees."""

"""Median of a small preallocated integer array, sorted in place (no allocation)."""


def sort_median(values, n):
    """Insertion-sort values[0:n] in place and return their median (mean of the middle two,
    rounded down, when n is even). Meant for the few samples of a window: n <= 32."""
    for i in range(1, n):
        v = values[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v
    return sorted_median(values, 0, n)


def sorted_median(values, start, end):
    """Median of values[start:end], already in ascending order (end > start): the middle
    value, or the mean of the middle two rounded down."""
    half = start + ((end - start) >> 1)
    if (end - start) & 1:
        return values[half]
    return (values[half - 1] + values[half]) >> 1

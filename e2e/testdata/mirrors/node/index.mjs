import isOdd from "is-odd";

// is-odd and its dependency is-number come from the configured registry.
export const handler = async (event) => ({ odd: isOdd(event.n) });

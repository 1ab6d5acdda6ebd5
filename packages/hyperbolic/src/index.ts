export const PACKAGE = '@hier-ts/hyperbolic';

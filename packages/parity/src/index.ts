export const PACKAGE = '@hier-ts/parity';

export const PACKAGE = '@hier-ts/data';

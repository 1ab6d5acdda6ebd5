export const PACKAGE = '@hier-ts/eval';

export const PACKAGE = '@hier-ts/trainer';

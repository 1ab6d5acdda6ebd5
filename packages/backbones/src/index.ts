export const PACKAGE = '@hier-ts/backbones';

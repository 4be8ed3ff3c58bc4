/** An error in a policy file, at its line and column (1-based). */
export interface PolicyError {
  file: string
  line: number
  col: number
  message: string
}

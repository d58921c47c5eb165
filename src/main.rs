fn main() {
    let _ = imgwatch::cli::command();
}

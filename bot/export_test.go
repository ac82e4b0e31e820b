package bot

// Texts are the templates of every language, for the tests of package bot_test.
var Texts = texts

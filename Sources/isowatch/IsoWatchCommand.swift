import ArgumentParser

@main
struct IsoWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isowatch",
        abstract: "Monitor for the isolated power supplies (medical IT systems) of operating theatres.",
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, ReadCommand.self, UserCommand.self, AnalyzeCommand.self,
            JournalCommand.self, ReloadCommand.self,
        ]
    )
}

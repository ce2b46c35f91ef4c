using System.Text;

namespace OspBridge.Media.Sources;

/// <summary>
/// Splits a command line into argv without a shell: whitespace separates arguments; '…' keeps everything literally;
/// "…" keeps whitespace and honours \" and \\; a backslash outside quotes escapes the next character. No globbing,
/// no variables, no redirection.
/// </summary>
public static class CommandLine
{
    /// <summary>Splits <paramref name="commandLine"/>. Throws <see cref="MediaException"/> on an unterminated quote.</summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        var args = new List<string>();
        var current = new StringBuilder();
        bool inArg = false;
        for (int i = 0; i < commandLine.Length; i++)
        {
            char c = commandLine[i];
            if (char.IsWhiteSpace(c))
            {
                if (inArg)
                {
                    args.Add(current.ToString());
                    current.Clear();
                    inArg = false;
                }
                continue;
            }
            inArg = true;
            if (c == '\'')
            {
                int end = commandLine.IndexOf('\'', i + 1);
                if (end < 0)
                    throw new MediaException(MediaError.UnsupportedSource, "unterminated ' in command line");
                current.Append(commandLine, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                i++;
                while (i < commandLine.Length && commandLine[i] != '"')
                {
                    if (commandLine[i] == '\\' && i + 1 < commandLine.Length && commandLine[i + 1] is '"' or '\\')
                        i++;
                    current.Append(commandLine[i]);
                    i++;
                }
                if (i >= commandLine.Length)
                    throw new MediaException(MediaError.UnsupportedSource, "unterminated \" in command line");
            }
            else if (c == '\\' && i + 1 < commandLine.Length)
            {
                current.Append(commandLine[++i]);
            }
            else
            {
                current.Append(c);
            }
        }
        if (inArg)
            args.Add(current.ToString());
        return args;
    }
}

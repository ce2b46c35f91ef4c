namespace OspBridge.Testing;

/// <summary>
/// Where the repository's own files are (interop scripts, npm packages, docs with golden bytes), found once from the
/// test binary's directory upwards: the first directory that holds <c>OspBridge.sln</c>.
/// </summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootDirectory = new(FindRoot);

    /// <summary>The repository root.</summary>
    public static string Root => RootDirectory.Value;

    /// <summary><c>interop/</c>: peer scripts, the RTSP stand-in, the peerfetch ES module, npm packages.</summary>
    public static string Interop => Path.Combine(Root, "interop");

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "OspBridge.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("OspBridge.sln not found above " + AppContext.BaseDirectory);
    }
}

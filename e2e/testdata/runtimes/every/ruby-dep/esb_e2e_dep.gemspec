Gem::Specification.new do |s|
  s.name = 'esb_e2e_dep'
  s.version = '1.0.0'
  s.summary = 'A dependency the e2e test packs as a gem and the deploy installs'
  s.authors = ['ESB']
  s.files = ['lib/esb_e2e_dep.rb']
  s.license = 'MIT'
end
